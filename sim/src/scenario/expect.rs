//! The expectation vocabulary of `[expect]`: invariants that hold or break, exact
//! dispatch times, results and outcome counts, and the defect a scenario demonstrates.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use paceline_trace::{DefectId, Invariant, ResultKind, shown};
use serde::Deserialize;
use toml::Value;

use super::file::ExpectFile;
use super::source::{Checked, Source, key_text, value_text};
use super::{Expect, Recovery};

/// The defect a scenario file declares in `expect.mutant`, read leniently: a file that
/// demonstrates a configuration defect (D4, D9) is refused by the real core, and the
/// harness must still learn which defect it is about.
pub fn declared_mutant(text: &str) -> Option<DefectId> {
    #[derive(Deserialize)]
    struct Lenient {
        expect: Option<LenientExpect>,
    }
    #[derive(Deserialize)]
    struct LenientExpect {
        mutant: Option<String>,
    }
    if super::nesting::too_deep(text).is_some() {
        return None;
    }
    let file: Lenient = toml::from_str(text).ok()?;
    DefectId::parse(&file.expect?.mutant?)
}

impl Source<'_> {
    fn invariants(
        &self,
        names: &[String],
        offset: usize,
        key: &str,
    ) -> Checked<BTreeSet<Invariant>> {
        names
            .iter()
            .map(|n| {
                Invariant::parse(n).ok_or_else(|| {
                    self.error(
                        offset,
                        key,
                        format!("{}: invariants are named I1 to I11", shown(n)),
                    )
                })
            })
            .collect()
    }

    pub(super) fn expect(&self, file: ExpectFile, ids: &BTreeSet<String>) -> Checked<Expect> {
        let violates = match file.violates {
            None => BTreeSet::new(),
            Some(v) => {
                let offset = v.span().start;
                self.invariants(v.get_ref(), offset, "expect.violates")?
            }
        };
        let holds = match file.holds {
            None => Invariant::ALL
                .into_iter()
                .filter(|i| !violates.contains(i))
                .collect(),
            Some(v) => {
                let offset = v.span().start;
                match v.get_ref() {
                    Value::String(s) if s == "all" => Invariant::ALL.into_iter().collect(),
                    Value::Array(items) => {
                        let names = items
                            .iter()
                            .map(|i| {
                                i.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| i.to_string())
                            })
                            .collect::<Vec<_>>();
                        self.invariants(&names, offset, "expect.holds")?
                    }
                    other => {
                        return Err(self.error(
                            offset,
                            "expect.holds",
                            format!(
                                "{}: write \"all\" or a list such as [\"I1\", \"I3\"]",
                                value_text(other)
                            ),
                        ));
                    }
                }
            }
        };
        if let Some(both) = holds.intersection(&violates).next() {
            return Err(self.error(
                0,
                "expect.violates",
                format!("{both} cannot both hold and be violated"),
            ));
        }
        let known_id = |map_span: &Range<usize>, id: &String, key: &str| -> Checked<()> {
            if ids.contains(id) {
                Ok(())
            } else {
                Err(self.error(
                    self.key_offset(map_span, id),
                    &format!("{key}.{}", key_text(id)),
                    format!("no row has the id {}", shown(id)),
                ))
            }
        };
        let dispatch_ms = match file.dispatch_ms {
            None => BTreeMap::new(),
            Some(map) => {
                let span = map.span();
                for id in map.get_ref().keys() {
                    known_id(&span, id, "expect.dispatch_ms")?;
                }
                map.into_inner()
            }
        };
        let results = match file.results {
            None => BTreeMap::new(),
            Some(map) => {
                let span = map.span();
                let mut results = BTreeMap::new();
                for (id, kind) in map.into_inner() {
                    known_id(&span, &id, "expect.results")?;
                    let parsed = ResultKind::parse(&kind).ok_or_else(|| {
                        self.error(
                            self.key_offset(&span, &id),
                            &format!("expect.results.{}", key_text(&id)),
                            format!(
                                "{}: a result is ok, permanent, retry_timeout or shutdown",
                                shown(&kind)
                            ),
                        )
                    })?;
                    results.insert(id, parsed);
                }
                results
            }
        };
        let outcomes = match file.outcomes {
            None => BTreeMap::new(),
            Some(map) => {
                let span = map.span();
                let mut outcomes = BTreeMap::new();
                for (kind, count) in map.into_inner() {
                    let parsed = ResultKind::parse(&kind).ok_or_else(|| {
                        self.error(
                            self.key_offset(&span, &kind),
                            &format!("expect.outcomes.{}", key_text(&kind)),
                            "unknown result: use ok, permanent, retry_timeout or shutdown",
                        )
                    })?;
                    outcomes.insert(parsed, count);
                }
                outcomes
            }
        };
        let mutant = match file.mutant {
            None => None,
            Some(m) => Some(DefectId::parse(m.get_ref()).ok_or_else(|| {
                self.error(
                    m.span().start,
                    "expect.mutant",
                    format!("{}: defects are named D1 to D20", shown(m.get_ref())),
                )
            })?),
        };
        let recovers = match file.recovers {
            None => None,
            Some(r) => {
                let offset = r.span().start;
                let r = r.into_inner();
                let field = |name: &str, value: i64, least: i64, why: &str| {
                    u64::try_from(value)
                        .ok()
                        .filter(|_| value >= least)
                        .ok_or_else(|| {
                            self.error(
                                offset,
                                &format!("expect.recovers.{name}"),
                                format!("{value}: must be at least {least}{why}"),
                            )
                        })
                };
                let after_ms = field("after_ms", r.after_ms, 0, "")?;
                let within_ms = field(
                    "within_ms",
                    r.within_ms,
                    60_000,
                    " (throughput is counted over a one-minute window)",
                )?;
                let rows_per_min = field("rows_per_min", r.rows_per_min, 1, "")?;
                Some(Recovery {
                    after_us: self.us(after_ms, offset, "expect.recovers.after_ms")?,
                    within_us: self.us(within_ms, offset, "expect.recovers.within_ms")?,
                    rows_per_min,
                })
            }
        };
        Ok(Expect {
            recovers,
            holds,
            violates,
            dispatch_ms,
            results,
            outcomes,
            mutant,
        })
    }
}
