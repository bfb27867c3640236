//! Seats' statuses, and the compact form a seat map's status document carries them in:
//! two bits a seat, in the order of the event's layout, base64-encoded. The 6,000 seats of
//! a stadium take 2,000 characters, against 568 KB for the full map.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The name of the encoding, as the status document states it.
pub const ENCODING: &str = "2bit-base64";

const BITS_PER_SEAT: usize = 2;
const SEATS_PER_BYTE: usize = 8 / BITS_PER_SEAT;

/// A seat's status as buyers see it: a lapsed hold is `Available`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

impl SeatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SeatStatus::Available => "available",
            SeatStatus::Held => "held",
            SeatStatus::Sold => "sold",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "available" => Some(SeatStatus::Available),
            "held" => Some(SeatStatus::Held),
            "sold" => Some(SeatStatus::Sold),
            _ => None,
        }
    }

    /// Its two bits: 0 available, 1 held, 2 sold (3 is unused).
    pub fn code(self) -> u8 {
        match self {
            SeatStatus::Available => 0,
            SeatStatus::Held => 1,
            SeatStatus::Sold => 2,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(SeatStatus::Available),
            1 => Some(SeatStatus::Held),
            2 => Some(SeatStatus::Sold),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusDecodeError {
    #[error("the status data is not base64: {0}")]
    NotBase64(String),
    #[error("the status data holds {bytes} bytes, {seats} seats need {needed}")]
    WrongLength {
        bytes: usize,
        seats: usize,
        needed: usize,
    },
    #[error("seat {0} has the unused code 3")]
    UnusedCode(usize),
}

/// Packs the statuses four to a byte, the first seat in the lowest two bits.
pub fn encode(statuses: &[SeatStatus]) -> String {
    let mut packed = vec![0u8; statuses.len().div_ceil(SEATS_PER_BYTE)];
    for (i, status) in statuses.iter().enumerate() {
        packed[i / SEATS_PER_BYTE] |= status.code() << (BITS_PER_SEAT * (i % SEATS_PER_BYTE));
    }
    STANDARD.encode(packed)
}

/// The statuses of `seat_count` seats from [`encode`]'s output.
pub fn decode(data: &str, seat_count: usize) -> Result<Vec<SeatStatus>, StatusDecodeError> {
    let packed = STANDARD
        .decode(data)
        .map_err(|e| StatusDecodeError::NotBase64(e.to_string()))?;
    let needed = seat_count.div_ceil(SEATS_PER_BYTE);
    if packed.len() != needed {
        return Err(StatusDecodeError::WrongLength {
            bytes: packed.len(),
            seats: seat_count,
            needed,
        });
    }
    (0..seat_count)
        .map(|i| {
            let code =
                (packed[i / SEATS_PER_BYTE] >> (BITS_PER_SEAT * (i % SEATS_PER_BYTE))) & 0b11;
            SeatStatus::from_code(code.into()).ok_or(StatusDecodeError::UnusedCode(i))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A full seat map as `GET /api/events/{id}/seats` answers it: 12 sections of 25 rows
    /// of 20 seats, with runs of held and sold seats among the free ones.
    fn stadium_map() -> Value {
        let mut id = 0;
        let sections: Vec<Value> = (1..=12)
            .map(|section| {
                let rows: Vec<Value> = (1..=25)
                    .map(|row| {
                        let seats: Vec<Value> = (1..=20)
                            .map(|number| {
                                id += 1;
                                let status = match (id * 7919) % 11 {
                                    0..=5 => "available",
                                    6..=8 => "sold",
                                    _ => "held",
                                };
                                json!({"id": id, "number": number, "status": status,
                                       "price_cents": 5000, "tier": "Standard"})
                            })
                            .collect();
                        json!({"name": row.to_string(), "seats": seats})
                    })
                    .collect();
                json!({"name": format!("S{section}"), "rows": rows})
            })
            .collect();
        json!({"event_id": 1, "currency": "EUR", "sections": sections})
    }

    /// The map's statuses in its own order, which is the layout's.
    fn statuses_of(map: &Value) -> Vec<SeatStatus> {
        map["sections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["rows"].as_array().unwrap())
            .flat_map(|r| r["seats"].as_array().unwrap())
            .map(|seat| SeatStatus::parse(seat["status"].as_str().unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn a_full_map_round_trips_in_under_4_kb() {
        let statuses = statuses_of(&stadium_map());
        assert_eq!(statuses.len(), 6_000);
        assert!(statuses.contains(&SeatStatus::Held) && statuses.contains(&SeatStatus::Sold));
        let data = encode(&statuses);
        assert_eq!(data.len(), 2_000, "6,000 seats in 1,500 bytes, base64");
        assert_eq!(decode(&data, statuses.len()), Ok(statuses));
    }

    #[test]
    fn counts_that_do_not_fill_the_last_byte_round_trip() {
        let all = [SeatStatus::Sold, SeatStatus::Held, SeatStatus::Available];
        for len in 0..=9 {
            let statuses: Vec<SeatStatus> = (0..len).map(|i| all[i % 3]).collect();
            assert_eq!(decode(&encode(&statuses), len), Ok(statuses), "{len} seats");
        }
    }

    #[test]
    fn the_first_seat_is_in_the_lowest_bits() {
        // sold, held, available, held: 0b01_00_01_10.
        let statuses = [
            SeatStatus::Sold,
            SeatStatus::Held,
            SeatStatus::Available,
            SeatStatus::Held,
        ];
        assert_eq!(encode(&statuses), STANDARD.encode([0b0100_0110]));
    }

    #[test]
    fn malformed_data_is_refused() {
        assert!(matches!(
            decode("not base64!", 4),
            Err(StatusDecodeError::NotBase64(_))
        ));
        assert_eq!(
            decode(&encode(&[SeatStatus::Held; 5]), 4),
            Err(StatusDecodeError::WrongLength {
                bytes: 2,
                seats: 4,
                needed: 1
            })
        );
        assert_eq!(
            decode(&STANDARD.encode([0b0000_1100]), 4),
            Err(StatusDecodeError::UnusedCode(1))
        );
    }

    #[test]
    fn statuses_read_their_names_and_codes() {
        for status in [SeatStatus::Available, SeatStatus::Held, SeatStatus::Sold] {
            assert_eq!(SeatStatus::parse(status.as_str()), Some(status));
            assert_eq!(SeatStatus::from_code(status.code().into()), Some(status));
        }
        assert_eq!(SeatStatus::parse("free"), None);
        assert_eq!(SeatStatus::from_code(3), None);
    }
}
