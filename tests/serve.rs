//! `paceline serve` as a user runs it: it says where it listens, answers, stops on
//! Ctrl-C (SIGINT) with its trace flushed, and `check-trace` judges that trace as the
//! server's. Loopback only: anything else is refused with exit 2.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn paceline() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paceline"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

#[test]
fn serve_answers_until_ctrl_c_and_its_trace_is_judged_as_the_servers() {
    let trace = std::env::temp_dir().join(format!("paceline-serve-{}.csv", std::process::id()));
    let mut server = paceline()
        .args([
            "serve",
            "scenarios/live/429-phase.toml",
            "--addr",
            "127.0.0.1:0",
        ])
        .arg("--trace")
        .arg(&trace)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut out = BufReader::new(server.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("a first line");
    // "serving live-429-phase on http://127.0.0.1:PORT/v1/chat/completions (speed 1); ..."
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the address")
        .to_string();
    let body = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
    for _ in 0..3 {
        let mut stream = TcpStream::connect(&addr).expect("connects");
        write!(
            stream,
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("sends");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("reads");
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(interrupted.success());
    let status = server.wait().expect("the server ends");
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("the rest of stdout");
    assert_eq!(status.code(), Some(0), "{first}{rest}");
    assert!(rest.contains("stopped after 3 requests (200: 3)"), "{rest}");
    assert!(rest.contains("7 trace records"), "{rest}");

    let check = paceline()
        .args(["check-trace"])
        .arg(&trace)
        .args([
            "--pool",
            "scenarios/live/429-phase.toml",
            "--tolerance-us",
            "5000",
        ])
        .output()
        .expect("the binary runs");
    let verdicts = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{verdicts}");
    assert!(
        verdicts.contains("I1 held | I2 held | I3 skipped | I4 skipped"),
        "{verdicts}"
    );
    assert!(verdicts.contains("a server-side trace"), "{verdicts}");
}

#[test]
fn serve_refuses_a_non_loopback_address_and_a_bad_one_with_exit_2() {
    for (addr, says) in [
        ("0.0.0.0:0", "not a loopback address"),
        ("localhost:80", "an IP address and port"),
    ] {
        let run = paceline()
            .args(["serve", "scenarios/live/429-phase.toml", "--addr", addr])
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}
