//! Races against real PostgreSQL: hundreds of concurrent hold attempts over the same few
//! seats, through the service exactly as the component runs it. A seat must end up in at
//! most one live hold, and every answer must match what the database holds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use http::StatusCode;
use ticketbuster_domain::holds::HoldPolicy;
use ticketbuster_tests::{Customer, TestApp};

const ATTEMPTS: usize = 500;
const SEATS: usize = 50;
const ROUNDS: usize = 20;

struct Outcome {
    requested: Vec<i64>,
    status: StatusCode,
    hold_id: Option<String>,
    unavailable: Vec<i64>,
}

/// Fires every request at once (each on its own task) and collects the answers.
async fn race(
    app: &Arc<TestApp>,
    buyers: &Arc<Vec<Customer>>,
    event_id: i64,
    requests: Vec<Vec<i64>>,
) -> Vec<Outcome> {
    let tasks: Vec<_> = requests
        .into_iter()
        .enumerate()
        .map(|(i, seats)| {
            let app = app.clone();
            let buyers = buyers.clone();
            tokio::spawn(async move {
                let answer = app.hold(&buyers[i % buyers.len()], event_id, &seats).await;
                Outcome {
                    requested: seats,
                    status: answer.status,
                    hold_id: answer.body["hold_id"].as_str().map(str::to_owned),
                    unavailable: answer.body["unavailable_seat_ids"]
                        .as_array()
                        .map(|ids| ids.iter().filter_map(|v| v.as_i64()).collect())
                        .unwrap_or_default(),
                }
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.expect("hold task"));
    }
    outcomes
}

/// Checks the database against the answers: one live hold per seat at most, each seat
/// marked with the hold that won it, each refusal caused by a seat someone else won.
async fn check_invariants(app: &TestApp, event_id: i64, outcomes: &[Outcome]) -> usize {
    let live: Vec<(String, Vec<i64>)> = sqlx::query_as(
        "SELECT id::text, seat_ids FROM catalog.holds WHERE event_id = $1 AND released_at IS NULL AND expires_at > now()",
    )
    .bind(event_id)
    .fetch_all(app.pool())
    .await
    .unwrap();
    let mut owner: BTreeMap<i64, String> = BTreeMap::new();
    for (hold, seats) in &live {
        for seat in seats {
            assert!(
                owner.insert(*seat, hold.clone()).is_none(),
                "seat {seat} is in two live holds"
            );
        }
    }
    let marked: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT id, status, hold_id::text FROM catalog.seats WHERE event_id = $1")
            .bind(event_id)
            .fetch_all(app.pool())
            .await
            .unwrap();
    for (seat, status, hold) in &marked {
        match owner.get(seat) {
            Some(winner) => assert_eq!(
                (status.as_str(), hold.as_ref()),
                ("held", Some(winner)),
                "seat {seat}"
            ),
            None => assert_eq!((status.as_str(), hold), ("available", &None), "seat {seat}"),
        }
    }
    let won: BTreeSet<&str> = outcomes
        .iter()
        .filter_map(|o| o.hold_id.as_deref())
        .collect();
    let in_db: BTreeSet<&str> = live.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        won, in_db,
        "every 201 is a live hold and every live hold was answered 201"
    );
    for outcome in outcomes {
        match outcome.status {
            StatusCode::CREATED => {
                let hold = outcome.hold_id.as_deref().unwrap();
                assert!(outcome.requested.iter().all(|s| owner[s] == hold));
            }
            StatusCode::CONFLICT => {
                assert!(!outcome.unavailable.is_empty());
                for seat in &outcome.unavailable {
                    assert!(outcome.requested.contains(seat));
                    assert!(
                        owner.contains_key(seat),
                        "seat {seat} was refused but nobody holds it"
                    );
                }
            }
            other => panic!("unexpected answer {other}"),
        }
    }
    won.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disjoint_pairs_each_go_to_exactly_one_hold() {
    let app = Arc::new(TestApp::spawn_with(HoldPolicy::default().without_account_caps(), 40).await);
    let buyers: Arc<Vec<Customer>> =
        Arc::new(futures::future::join_all((0..50).map(|_| app.customer())).await);
    for round in 0..ROUNDS {
        let fixture = app.event(1, 5, 10).await;
        assert_eq!(fixture.seat_ids.len(), SEATS);
        let pairs: Vec<Vec<i64>> = fixture.seat_ids.chunks(2).map(<[i64]>::to_vec).collect();
        let requests = (0..ATTEMPTS)
            .map(|i| pairs[(i * 7 + round) % pairs.len()].clone())
            .collect();
        let outcomes = race(&app, &buyers, fixture.event_id, requests).await;
        let won = check_invariants(&app, fixture.event_id, &outcomes).await;
        assert_eq!(
            won,
            SEATS / 2,
            "round {round}: each of the 25 pairs is won exactly once"
        );
        let refused = outcomes
            .iter()
            .filter(|o| o.status == StatusCode::CONFLICT)
            .count();
        assert_eq!(refused, ATTEMPTS - SEATS / 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_windows_never_share_a_seat() {
    let app = Arc::new(TestApp::spawn_with(HoldPolicy::default().without_account_caps(), 40).await);
    let buyers: Arc<Vec<Customer>> =
        Arc::new(futures::future::join_all((0..50).map(|_| app.customer())).await);
    for round in 0..ROUNDS {
        let fixture = app.event(1, 5, 10).await;
        // Windows of 1 to 4 consecutive seats starting anywhere: heavy partial overlap.
        let requests = (0..ATTEMPTS)
            .map(|i| {
                let len = 1 + (i + round) % 4;
                let start = (i * 31 + round * 17) % (SEATS - len + 1);
                fixture.seat_ids[start..start + len].to_vec()
            })
            .collect();
        let outcomes = race(&app, &buyers, fixture.event_id, requests).await;
        let won = check_invariants(&app, fixture.event_id, &outcomes).await;
        assert!(won > 0, "round {round}: some hold must succeed");
        // Every seat that no winner took was asked for only in windows that lost to a winner.
        let held: usize = outcomes
            .iter()
            .filter(|o| o.status == StatusCode::CREATED)
            .map(|o| o.requested.len())
            .sum();
        assert!(held <= SEATS);
    }
}
