"""The official `openai` Python client, judged from the outside.

A thread pool of 16 sends chat completions through `openai.OpenAI` pointed at
`paceline serve` (its `base_url`), with the client's own retries left as shipped
(`max_retries` = 2: exponential backoff, honouring `retry-after-ms` / `Retry-After`
for the request that got them). The client knows nothing of paceline; the server
records every request it receives, and `paceline check-trace` judges that trace.

    paceline serve scenarios/providers/openai-tier1-mini.toml --speed 10
    python examples/python/openai_pool.py --base-url http://127.0.0.1:8080/v1

Prints what the client saw; the verdicts are the server trace's.
"""

import argparse
import collections
import concurrent.futures
import sys
import time

import openai


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()

    # Nothing but the address changes: the client's defaults are what is judged.
    client = openai.OpenAI(base_url=args.base_url, api_key="paceline")

    def one(i: int) -> str:
        try:
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"row {i}: say ok"}],
                max_tokens=16,
                # Names the row in the server's trace (the client's own
                # x-stainless-retry-count header gives the attempt).
                extra_headers={"x-paceline-row": f"row-{i}"},
            )
            return "ok"
        except openai.APIStatusError as e:
            return f"gave up: {e.status_code}"
        except openai.APIConnectionError:
            return "gave up: connection"

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(one, range(args.requests)))
    took = time.monotonic() - started
    counts = collections.Counter(results)
    print(
        f"openai {openai.__version__}: {args.requests} rows on {args.workers} threads "
        f"in {took:.1f} s: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
