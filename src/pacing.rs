//! How the background loop paces its work (plain Rust, tested natively; the
//! loop itself is `service::upload_loop`).
//!
//! - Uploads of normal snapshots run in pumps of 4 MiB stretches, one
//!   transaction each (measured fastest: 1 MiB stretches gave ~30 MB/s,
//!   4 MiB ~47, 8 MiB ~40), at most [`UNCAPPED`] bytes a turn.
//! - With an upload rate (`setUploadRate`), a token bucket: allowance grows
//!   at the rate, is saved up to one second (or one 64 KiB block), and a pump
//!   runs once at least one 32 KiB block is allowed; what it may use is then
//!   taken from the allowance.
//! - Tasks (imports, exports) take [`TASK_STEPS`] steps a turn, between which
//!   console and script calls get the service.

/// Most bytes one uncapped pump uploads.
pub const UNCAPPED: u64 = 32 << 20;
/// Bytes of one stretch (one transaction) of an upload.
pub const STRETCH: u64 = 4 << 20;
/// Task steps (4 MiB each) per turn.
pub const TASK_STEPS: usize = 4;
/// Milliseconds the loop waits when there was nothing to do.
pub const IDLE_MS: u32 = 100;
/// The smallest pump: one engine block.
const BLOCK: f64 = 32_768.0;

/// The upload rate limiter: a token bucket over the real clock.
#[derive(Debug, Clone)]
pub struct Pacer {
    allowance: f64,
    last_ms: f64,
}

impl Pacer {
    pub fn new(now_ms: f64) -> Self {
        Pacer { allowance: 0.0, last_ms: now_ms }
    }

    /// The bytes the next pump may upload at `now_ms` under `rate` bytes per
    /// second (None: no cap); None while the allowance is under one block.
    pub fn budget(&mut self, now_ms: f64, rate: Option<u64>) -> Option<u64> {
        let dt = (now_ms - self.last_ms).max(0.0) / 1000.0;
        self.last_ms = now_ms;
        match rate {
            Some(rate) => {
                let rate = rate as f64;
                // Save up to one second (or one block) of allowance.
                self.allowance = (self.allowance + rate * dt).min(rate.max(2.0 * BLOCK));
                (self.allowance >= BLOCK).then_some(self.allowance as u64)
            }
            None => Some(UNCAPPED),
        }
    }

    /// A pump given `budget` uploaded something: under a cap, the budget is spent.
    pub fn spent(&mut self, rate: Option<u64>, budget: u64) {
        if rate.is_some() {
            self.allowance -= ((budget as f64 / BLOCK).floor() * BLOCK).max(BLOCK);
        }
    }

    /// Nothing was left to upload: no allowance is saved for later.
    pub fn idle(&mut self) {
        self.allowance = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates `seconds` of a loop turning every `tick_ms` with always
    /// something to upload; returns the bytes uploaded.
    fn run(rate: Option<u64>, seconds: f64, tick_ms: f64) -> u64 {
        let mut p = Pacer::new(0.0);
        let (mut now, mut total) = (0.0, 0u64);
        while now < seconds * 1000.0 {
            now += tick_ms;
            if let Some(b) = p.budget(now, rate) {
                total += b / 32_768 * 32_768; // a pump uploads whole blocks
                p.spent(rate, b);
            }
        }
        total
    }

    #[test]
    fn a_capped_upload_keeps_to_its_rate() {
        for rate in [100_000u64, 1_000_000, 10_000_000] {
            for tick in [10.0, 100.0, 700.0] {
                let got = run(Some(rate), 20.0, tick) as f64 / 20.0;
                assert!((got / rate as f64 - 1.0).abs() < 0.1, "rate {rate} tick {tick}: {got} B/s");
            }
        }
    }

    #[test]
    fn uncapped_pumps_take_the_whole_turn_budget() {
        let mut p = Pacer::new(0.0);
        assert_eq!(p.budget(5.0, None), Some(UNCAPPED));
    }

    #[test]
    fn allowance_is_saved_for_at_most_a_second_and_dropped_when_idle() {
        let mut p = Pacer::new(0.0);
        // Ten idle seconds at 1 MB/s allow one second's worth, not ten.
        assert_eq!(p.budget(10_000.0, Some(1_000_000)), Some(1_000_000));
        p.idle();
        // Under one block: wait.
        assert_eq!(p.budget(10_010.0, Some(1_000_000)), None);
        assert_eq!(p.budget(10_040.0, Some(1_000_000)), Some(40_000));
    }

    #[test]
    fn a_slow_rate_still_moves_a_block_at_a_time() {
        // 1 KB/s: a 32 KiB block every ~33 s.
        let got = run(Some(1_000), 100.0, 100.0);
        assert!((2 * 32_768..=4 * 32_768).contains(&got), "{got}");
    }
}
