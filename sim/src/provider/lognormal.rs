//! A log-normal distribution given by its median and 99th percentile.
//!
//! Real API latency is heavy-tailed; a scenario says `latency_ms = { p50 = 800, p99 =
//! 6000 }` (and row `tokens` likewise), and a log-normal is the simplest distribution
//! through both: `ln X ~ Normal(mu, sigma)` with `mu = ln p50` and
//! `sigma = (ln p99 - ln p50) / z(0.99)`.
//!
//! Sampling is by inverse CDF: one uniform draw per sample, mapped through the standard
//! normal quantile (Acklam's rational approximation, relative error below 1.2e-9). One
//! draw per sample keeps the seeded stream's use predictable, and the same draw always
//! lands on the same quantile.

use std::fmt;

use rand::RngExt;

/// The standard normal's 99th percentile: `Phi^-1(0.99)`.
pub const Z_99: f64 = 2.3263478740408408;

/// A log-normal distribution: `ln X ~ Normal(mu, sigma)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogNormal {
    mu: f64,
    sigma: f64,
}

/// Why a p50/p99 pair describes no log-normal distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogNormalError {
    /// p50 or p99 is NaN or infinite.
    NotFinite,
    /// p50 is zero or negative: a log-normal lives on `(0, inf)`.
    NotPositive,
    /// p99 is below p50.
    P99BelowP50,
}

impl fmt::Display for LogNormalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogNormalError::NotFinite => "p50 and p99 must be finite numbers",
            LogNormalError::NotPositive => "p50 must be greater than 0",
            LogNormalError::P99BelowP50 => "p99 must be at least p50",
        })
    }
}

impl std::error::Error for LogNormalError {}

impl LogNormal {
    /// The log-normal whose median is `p50` and whose 99th percentile is `p99`, in any
    /// unit (samples come out in the same unit). Needs `p99 >= p50 > 0`, both finite;
    /// `p99 == p50` gives `sigma = 0`: every sample is `p50` (up to rounding of
    /// `exp(ln p50)`).
    pub fn from_p50_p99(p50: f64, p99: f64) -> Result<Self, LogNormalError> {
        if !p50.is_finite() || !p99.is_finite() {
            return Err(LogNormalError::NotFinite);
        }
        if p50 <= 0.0 {
            return Err(LogNormalError::NotPositive);
        }
        if p99 < p50 {
            return Err(LogNormalError::P99BelowP50);
        }
        let mu = p50.ln();
        let sigma = (p99.ln() - mu) / Z_99;
        Ok(LogNormal {
            mu,
            sigma: sigma.max(0.0),
        })
    }

    #[cfg(test)]
    /// [`LogNormal::from_p50_p99`] from whole microseconds, for latencies that
    /// [`LogNormal::sample_us`] then draws in whole microseconds.
    pub fn from_p50_p99_us(p50_us: u64, p99_us: u64) -> Result<Self, LogNormalError> {
        LogNormal::from_p50_p99(p50_us as f64, p99_us as f64)
    }

    #[cfg(test)]
    /// `mu`, the mean of `ln X` (`ln p50`).
    pub fn mu(&self) -> f64 {
        self.mu
    }

    #[cfg(test)]
    /// `sigma`, the standard deviation of `ln X`.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// The `p`-quantile, `exp(mu + sigma * Phi^-1(p))`, for `p` in `(0, 1)` (0 gives 0,
    /// 1 gives infinity, NaN gives NaN). What a sample is for a uniform draw `p`.
    pub fn quantile(&self, p: f64) -> f64 {
        (self.mu + self.sigma * standard_normal_quantile(p)).exp()
    }

    /// One sample: one uniform draw strictly inside `(0, 1)` mapped through
    /// [`LogNormal::quantile`], so it is finite and positive.
    pub fn sample(&self, rng: &mut impl rand::Rng) -> f64 {
        self.quantile(open_unit(rng))
    }

    #[cfg(test)]
    /// One sample rounded to the nearest whole microsecond (for a distribution made by
    /// [`LogNormal::from_p50_p99_us`]); saturates at `u64::MAX`.
    pub fn sample_us(&self, rng: &mut impl rand::Rng) -> u64 {
        // `as` saturates a float too large for u64 (and the sample is never NaN).
        self.sample(rng).round() as u64
    }
}

/// A uniform draw in `(0, 1)`, symmetric about 1/2: `(k + 1/2) / 2^52` for a uniform
/// 52-bit `k`. Exact in f64 (53 significant bits), never 0 or 1, so the normal quantile
/// is finite.
fn open_unit(rng: &mut impl rand::Rng) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 52) as f64;
    let k = rng.random::<u64>() >> 12;
    (k as f64 + 0.5) * SCALE
}

/// `Phi^-1(p)`, the standard normal quantile, by Peter Acklam's rational approximation
/// (relative error below 1.15e-9 over `(0, 1)`): a central rational function in
/// `p - 1/2`, and tail functions in `sqrt(-2 ln p)`. The upper tail uses symmetry,
/// `Phi^-1(p) = -Phi^-1(1 - p)`, where `1 - p` is exact for `p >= 1/2`.
fn standard_normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;

    if p.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    if p > 0.5 {
        return -standard_normal_quantile(1.0 - p);
    }
    if p < P_LOW {
        let q = (-2.0 * p.ln()).sqrt();
        let num = ((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5];
        let den = (((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0;
        return num / den;
    }
    let q = p - 0.5;
    let r = q * q;
    let num = (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q;
    let den = ((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0;
    num / den
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn close(got: f64, want: f64, rel: f64) -> bool {
        (got - want).abs() <= rel * want.abs().max(1e-300)
    }

    #[test]
    fn the_normal_quantile_matches_known_values() {
        // Reference values of Phi^-1 (to 16 digits).
        for (p, z) in [
            (0.99, Z_99),
            (0.975, 1.959_963_984_540_054),
            (0.841_344_746_068_542_9, 1.0),
            (0.9, 1.281_551_565_544_600_5),
            (0.001, -3.090_232_306_167_813_5),
            (1e-10, -6.361_340_902_404_056),
        ] {
            let got = standard_normal_quantile(p);
            assert!(close(got, z, 2e-9), "Phi^-1({p}) = {got}, want {z}");
            assert!(close(standard_normal_quantile(1.0 - p), -z, 1e-8));
        }
        assert_eq!(standard_normal_quantile(0.5), 0.0);
        assert_eq!(standard_normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(standard_normal_quantile(1.0), f64::INFINITY);
    }

    #[test]
    fn parameters_pass_through_p50_and_p99() {
        // p50 = 800, p99 = 6000: mu = ln 800 = 6.684612; sigma = ln(7.5) / 2.3263479 =
        // 2.0149030 / 2.3263479 = 0.8661228.
        let d = LogNormal::from_p50_p99(800.0, 6000.0).expect("valid");
        assert!(close(d.mu(), 800f64.ln(), 1e-15));
        assert!(close(d.sigma(), 0.866_122_8, 1e-6), "sigma {}", d.sigma());
        assert!(close(d.quantile(0.5), 800.0, 1e-12));
        assert!(close(d.quantile(0.99), 6000.0, 1e-8));
    }

    #[test]
    fn invalid_pairs_are_refused() {
        use LogNormalError::*;
        let e = |a, b| LogNormal::from_p50_p99(a, b).err();
        assert_eq!(e(0.0, 1.0), Some(NotPositive));
        assert_eq!(e(-1.0, 1.0), Some(NotPositive));
        assert_eq!(e(2.0, 1.0), Some(P99BelowP50));
        assert_eq!(e(f64::NAN, 1.0), Some(NotFinite));
        assert_eq!(e(1.0, f64::INFINITY), Some(NotFinite));
        assert_eq!(e(1.0, 1.0), None);
    }

    #[test]
    fn equal_percentiles_give_a_constant() {
        let d = LogNormal::from_p50_p99_us(800_000, 800_000).expect("valid");
        assert_eq!(d.sigma(), 0.0);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..1000 {
            assert!(close(d.sample(&mut rng), 800_000.0, 1e-12));
            assert_eq!(d.sample_us(&mut rng), 800_000);
        }
    }

    #[test]
    fn samples_hit_p50_and_p99_within_two_percent() {
        let d = LogNormal::from_p50_p99(800.0, 6000.0).expect("valid");
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 100_000;
        let mut xs: Vec<f64> = (0..n).map(|_| d.sample(&mut rng)).collect();
        assert!(xs.iter().all(|x| x.is_finite() && *x > 0.0));
        xs.sort_by(f64::total_cmp);
        let (p50, p99) = (xs[n / 2], xs[n * 99 / 100]);
        assert!(close(p50, 800.0, 0.02), "p50 {p50}");
        assert!(close(p99, 6000.0, 0.02), "p99 {p99}");
    }

    #[test]
    fn whole_microsecond_samples_are_seeded_and_rounded() {
        let d = LogNormal::from_p50_p99_us(800_000, 6_000_000).expect("valid");
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..1000)
                .map(|_| d.sample_us(&mut rng))
                .collect::<Vec<u64>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
        // The same draws unrounded round to the same whole microseconds.
        let mut a = ChaCha8Rng::seed_from_u64(3);
        let mut b = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..1000 {
            let x = d.sample(&mut a);
            assert_eq!(d.sample_us(&mut b), x.round() as u64);
        }
        let mut sorted = draw(5);
        sorted.sort_unstable();
        assert!(sorted[0] > 0);
    }
}
