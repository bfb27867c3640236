//! Orders: the simulated payment provider's rule.

/// The simulated payment provider: it declines a share of charges, so tests and
/// rehearsals can force the failure path. The real provider would replace `charge`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaymentProvider {
    failure_rate: f64,
}

impl PaymentProvider {
    pub fn new(failure_rate: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&failure_rate) {
            Ok(Self { failure_rate })
        } else {
            Err(format!(
                "the payment failure rate must be between 0 and 1, not {failure_rate}"
            ))
        }
    }

    pub fn from_setting(raw: Option<&str>) -> Result<Self, String> {
        match raw.map(str::trim).filter(|v| !v.is_empty()) {
            None => Self::new(0.0),
            Some(v) => v
                .parse::<f64>()
                .map_err(|_| format!("the payment failure rate {v:?} is not a number"))
                .and_then(Self::new),
        }
    }

    /// Whether a charge succeeds, given a uniformly random `draw`.
    pub fn charge(&self, draw: u32) -> bool {
        f64::from(draw) / f64::from(u32::MAX) >= self.failure_rate && self.failure_rate < 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_failure_rate_decides_the_share_of_declines() {
        let never = PaymentProvider::from_setting(None).unwrap();
        assert!(never.charge(0) && never.charge(u32::MAX));
        let always = PaymentProvider::from_setting(Some("1")).unwrap();
        assert!(!always.charge(0) && !always.charge(u32::MAX));
        let half = PaymentProvider::from_setting(Some("0.5")).unwrap();
        assert!(!half.charge(u32::MAX / 4) && half.charge(u32::MAX / 4 * 3));
        for bad in ["-0.1", "1.5", "often", "NaN"] {
            assert!(PaymentProvider::from_setting(Some(bad)).is_err(), "{bad}");
        }
    }
}
