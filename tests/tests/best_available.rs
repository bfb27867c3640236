//! Best-available holds (`{quantity, tier?, section?}`) against real PostgreSQL: which
//! seats the server picks on hand-made layouts and row states, the same refusals as a
//! chosen-seat hold (bad bodies, caps, sales window), and a race of concurrent requests
//! that must not collide.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use ticketbuster_domain::holds::HoldPolicy;
use ticketbuster_tests::{Answer, Case, Customer, Fixture, Service, TestApp, request};

async fn best_available(app: &TestApp, buyer: &Customer, event_id: i64, body: Value) -> Answer {
    app.call(
        Service::Holds,
        request(
            Method::POST,
            &format!("/api/events/{event_id}/holds"),
            Some(&buyer.token),
            Some(body),
        ),
    )
    .await
}

/// Where a seat is: (section, row, number).
type Place = (String, String, i32);

async fn places(app: &TestApp, seat_ids: &[i64]) -> Vec<Place> {
    sqlx::query_as(
        "SELECT section, row_label, number FROM catalog.seats WHERE id = ANY($1) ORDER BY number",
    )
    .bind(seat_ids)
    .fetch_all(app.pool())
    .await
    .expect("read the seats' places")
}

/// The places of the seats a hold answer names, after checking it is a hold.
async fn held_places(app: &TestApp, answer: &Answer) -> Vec<Place> {
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let seat_ids: Vec<i64> = serde_json::from_value(answer.body["seat_ids"].clone()).unwrap();
    places(app, &seat_ids).await
}

/// `(section, row, first number, last number)` of a set of places that must be adjacent
/// seats of one row.
fn block(places: &[Place]) -> (&str, &str, i32, i32) {
    let (section, row, first) = &places[0];
    for (i, (s, r, n)) in places.iter().enumerate() {
        assert_eq!((s, r, *n), (section, row, first + i as i32), "{places:?}");
    }
    (section, row, *first, first + places.len() as i32 - 1)
}

/// Marks the seats of `row` in the first section numbered `numbers` as sold.
async fn sell(app: &TestApp, event_id: i64, row: &str, numbers: &[i32]) {
    sqlx::query(
        "UPDATE catalog.seats SET status = 'sold'
         WHERE event_id = $1 AND section = 'S1' AND row_label = $2 AND number = ANY($3)",
    )
    .bind(event_id)
    .bind(row)
    .bind(numbers)
    .execute(app.pool())
    .await
    .expect("sell seats");
}

/// An event of `sections` × 4 rows × 10 seats whose rows A and B are tier `Front` at 90.00
/// and rows C and D the fixture's `Standard` at 50.00.
async fn two_tier_event(app: &TestApp, sections: i32) -> Fixture {
    let fixture = app.event(sections, 4, 10).await;
    sqlx::query(
        "WITH front AS (
             INSERT INTO catalog.price_tiers (event_id, name, price_cents)
             VALUES ($1, 'Front', 9000) RETURNING id)
         UPDATE catalog.seats SET tier_id = (SELECT id FROM front)
         WHERE event_id = $1 AND row_label IN ('A', 'B')",
    )
    .bind(fixture.event_id)
    .execute(app.pool())
    .await
    .expect("add a front tier");
    fixture
}

#[tokio::test]
async fn picks_adjacent_seats_at_the_centre_of_the_best_row_and_honours_tier_and_section() {
    let app = TestApp::spawn_with(HoldPolicy::default().without_account_caps(), 10).await;
    let fixture = two_tier_event(&app, 2).await;
    let buyer = app.customer().await;
    let hold = async |body: Value| {
        let answer = best_available(&app, &buyer, fixture.event_id, body).await;
        let places = held_places(&app, &answer).await;
        let (section, row, first, last) = block(&places);
        (section.to_owned(), row.to_owned(), first, last)
    };
    let expect = |section: &str, row: &str, first: i32, last: i32| {
        (section.to_owned(), row.to_owned(), first, last)
    };

    assert_eq!(
        hold(json!({"quantity": 3})).await,
        expect("S1", "A", 4, 6),
        "the first row of the first section, centred"
    );
    assert_eq!(
        hold(json!({"quantity": 3})).await,
        expect("S2", "A", 4, 6),
        "every section's first row before any second row"
    );
    assert_eq!(
        hold(json!({"quantity": 2})).await,
        expect("S1", "A", 7, 8),
        "beside the taken block, leaving 1-3 and 9-10 in pairs or more"
    );
    assert_eq!(
        hold(json!({"quantity": 4, "tier": "Standard"})).await,
        expect("S1", "C", 4, 7)
    );
    assert_eq!(
        hold(json!({"quantity": 4, "section": "S2", "tier": "Standard"})).await,
        expect("S2", "C", 4, 7)
    );
    assert_eq!(
        hold(json!({"quantity": 8, "section": "S2"})).await,
        expect("S2", "B", 1, 8),
        "S2 row A has no 8 together any more, and 2-9 would leave 1 and 10 alone"
    );

    let listed = app.my_holds(&buyer).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 6);
}

/// The first look ranks only the best rows' blocks, in whole rank groups: ten first rows
/// are one group, and the centre of the tenth beats the edges of the first nine.
#[tokio::test]
async fn the_first_rows_of_every_section_are_ranked_together() {
    let app = TestApp::spawn_with(HoldPolicy::default().without_account_caps(), 10).await;
    let buyer = app.customer().await;
    let fixture = app.event(10, 2, 10).await;
    sqlx::query(
        "UPDATE catalog.seats SET status = 'sold'
         WHERE event_id = $1 AND row_label = 'A' AND section <> 'S10' AND number IN (5, 6)",
    )
    .bind(fixture.event_id)
    .execute(app.pool())
    .await
    .expect("sell the centres of nine first rows");
    let answer = best_available(&app, &buyer, fixture.event_id, json!({"quantity": 2})).await;
    assert_eq!(block(&held_places(&app, &answer).await), ("S10", "A", 5, 6));
}

#[tokio::test]
async fn avoids_leaving_a_single_seat_alone_when_another_block_can() {
    let app = TestApp::spawn_with(HoldPolicy::default().without_account_caps(), 10).await;
    let buyer = app.customer().await;

    // Row A: 1 2 3 4 5 6 free. The centred 2-5 would leave 1 and 6 alone.
    let fixture = app.event(1, 1, 6).await;
    let answer = best_available(&app, &buyer, fixture.event_id, json!({"quantity": 4})).await;
    assert_eq!(block(&held_places(&app, &answer).await), ("S1", "A", 1, 4));

    // Row A: free 1-2, sold 3, free 4-7, sold 8, free 9-10: every 3 there leaves one alone,
    // so the worse row B gets them; a buyer of 2 still gets row A, without an orphan.
    let fixture = app.event(1, 2, 10).await;
    sell(&app, fixture.event_id, "A", &[3, 8]).await;
    let answer = best_available(&app, &buyer, fixture.event_id, json!({"quantity": 3})).await;
    assert_eq!(block(&held_places(&app, &answer).await), ("S1", "B", 4, 6));
    let answer = best_available(&app, &buyer, fixture.event_id, json!({"quantity": 2})).await;
    assert_eq!(block(&held_places(&app, &answer).await), ("S1", "A", 4, 5));

    // When no block avoids an orphan, the best of those that leave one is taken.
    let fixture = app.event(1, 1, 10).await;
    sell(&app, fixture.event_id, "A", &[3, 8]).await;
    let answer = best_available(&app, &buyer, fixture.event_id, json!({"quantity": 3})).await;
    assert_eq!(block(&held_places(&app, &answer).await), ("S1", "A", 4, 6));

    // An expired hold's seats are free again; a live one's are not.
    let fixture = app.event(1, 1, 5).await;
    let first = app
        .hold(&buyer, fixture.event_id, &fixture.seat_ids[..2])
        .await;
    let second = app
        .hold(&buyer, fixture.event_id, &fixture.seat_ids[3..])
        .await;
    app.end_hold_in(first.body["hold_id"].as_str().unwrap(), "-1 second")
        .await;
    let answer = best_available(&app, &buyer, fixture.event_id, json!({"quantity": 3})).await;
    assert_eq!(block(&held_places(&app, &answer).await), ("S1", "A", 1, 3));
    assert_eq!(second.status, StatusCode::CREATED);
}

#[tokio::test]
async fn no_block_of_that_size_answers_409_with_what_is_left() {
    let app = TestApp::spawn_with(HoldPolicy::default().without_account_caps(), 10).await;
    let buyer = app.customer().await;
    let fixture = two_tier_event(&app, 1).await;
    sqlx::query(
        "UPDATE catalog.seats SET status = 'sold'
         WHERE event_id = $1 AND (row_label IN ('A', 'B', 'C') OR number % 3 = 0)",
    )
    .bind(fixture.event_id)
    .execute(app.pool())
    .await
    .expect("sell most seats");
    // Row D is left: 1 2 _ 4 5 _ 7 8 _ 10.
    let answer = best_available(&app, &buyer, fixture.event_id, json!({"quantity": 3})).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{:?}", answer.body);
    assert_eq!(answer.error_code(), "not_enough_adjacent_seats");
    assert_eq!(
        (&answer.body["seats_left"], &answer.body["largest_block"]),
        (&json!(7), &json!(2))
    );
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("7 seats are left"), "{message}");

    let front = best_available(
        &app,
        &buyer,
        fixture.event_id,
        json!({"quantity": 1, "tier": "Front"}),
    )
    .await;
    assert_eq!(front.error_code(), "not_enough_adjacent_seats");
    assert_eq!(front.body["seats_left"], 0);
    assert!(
        front.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"Front\"")
    );

    let pair = best_available(&app, &buyer, fixture.event_id, json!({"quantity": 2})).await;
    assert_eq!(block(&held_places(&app, &pair).await), ("S1", "D", 4, 5));
    let held: i64 = app
        .count("SELECT count(*) FROM catalog.seats WHERE status = 'held'")
        .await;
    assert_eq!(held, 2, "the refusals held nothing");
}

#[tokio::test]
async fn bad_best_available_bodies_answer_422_with_the_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 2, 10).await;
    let buyer = app.customer().await;
    let path = format!("/api/events/{}/holds", fixture.event_id);
    let hold = |body: Value| request(Method::POST, &path, Some(&buyer.token), Some(body));
    let cases: Vec<(&str, Value, &str)> = vec![
        ("quantity 0", json!({"quantity": 0}), "quantity"),
        (
            "quantity above the hold maximum",
            json!({"quantity": 9}),
            "quantity",
        ),
        ("negative quantity", json!({"quantity": -1}), "quantity"),
        (
            "seat ids and a quantity",
            json!({"quantity": 2, "seat_ids": [fixture.seat_ids[0]]}),
            "quantity",
        ),
        (
            "a tier with seat ids",
            json!({"seat_ids": [fixture.seat_ids[0]], "tier": "Standard"}),
            "tier",
        ),
        ("neither", json!({"tier": "Standard"}), "seat_ids"),
        (
            "unknown tier",
            json!({"quantity": 2, "tier": "Royal Box"}),
            "tier",
        ),
        (
            "unknown section",
            json!({"quantity": 2, "section": "S9"}),
            "section",
        ),
        (
            "a section's name in another case",
            json!({"quantity": 2, "section": "s1"}),
            "section",
        ),
        ("blank tier", json!({"quantity": 2, "tier": ""}), "tier"),
    ];
    for (name, body, field) in cases {
        let answer = app.call(Service::Holds, hold(body)).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {:?}",
            answer.body
        );
        assert_eq!(answer.body["path"], field, "{name}: {:?}", answer.body);
    }
    let typed: Vec<Case> = vec![
        (
            "quantity as text",
            hold(json!({"quantity": "two"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "tier as a number",
            hold(json!({"quantity": 2, "tier": 1})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown event",
            request(
                Method::POST,
                "/api/events/987654321/holds",
                Some(&buyer.token),
                Some(json!({"quantity": 2})),
            ),
            StatusCode::NOT_FOUND,
        ),
        (
            "no token",
            request(Method::POST, &path, None, Some(json!({"quantity": 2}))),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    app.assert_refused(Service::Holds, typed).await;
    assert_eq!(
        app.count("SELECT count(*) FROM catalog.holds").await,
        0,
        "no bad request held anything"
    );
}

#[tokio::test]
async fn caps_and_the_sales_window_apply_as_to_chosen_seats() {
    let app = TestApp::spawn_with(
        HoldPolicy {
            max_held_seats_per_account: 4,
            max_tickets_per_account: 6,
            ..HoldPolicy::default()
        },
        10,
    )
    .await;
    let fixture = app.event(1, 2, 10).await;
    let buyer = app.customer().await;
    let event_id = fixture.event_id;
    let first = best_available(&app, &buyer, event_id, json!({"quantity": 3})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);

    let over_held = best_available(&app, &buyer, event_id, json!({"quantity": 2})).await;
    let chosen = app.hold(&buyer, event_id, &fixture.seat_ids[10..12]).await;
    for answer in [&over_held, &chosen] {
        assert_eq!(answer.status, StatusCode::CONFLICT);
        assert_eq!(answer.error_code(), "hold_cap_reached", "{:?}", answer.body);
        assert_eq!(
            (&answer.body["cap_limit"], &answer.body["seats_allowed"]),
            (&json!(4), &json!(1))
        );
    }
    app.placed_order_id(&buyer, first.body["hold_id"].as_str().unwrap(), "ba-1")
        .await;
    let second = best_available(&app, &buyer, event_id, json!({"quantity": 3})).await;
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    let over_tickets = best_available(&app, &buyer, event_id, json!({"quantity": 1})).await;
    assert_eq!(over_tickets.error_code(), "ticket_cap_reached");
    assert_eq!(over_tickets.body["seats_allowed"], 0);

    // Outside the sales window, or once the event started, as for chosen seats.
    let later = app.event(1, 1, 4).await;
    sqlx::query("UPDATE catalog.events SET sales_start = now() + interval '1 day' WHERE id = $1")
        .bind(later.event_id)
        .execute(app.pool())
        .await
        .expect("move the sales start");
    let started = app.event_starting_in(1, 1, 4, "-1 hour").await;
    let other = app.customer().await;
    for (fixture, code) in [(&later, "sales_not_open"), (&started, "sales_closed")] {
        let best = best_available(&app, &other, fixture.event_id, json!({"quantity": 2})).await;
        let chosen = app
            .hold(&other, fixture.event_id, &fixture.seat_ids[..2])
            .await;
        assert_eq!(
            (best.status, best.error_code()),
            (StatusCode::CONFLICT, code),
            "{:?}",
            best.body
        );
        assert_eq!(best.body, chosen.body);
    }
}

/// Locks the seats numbered `numbers` of row A of the first section, as a hold in flight
/// would, in a transaction the caller ends.
async fn lock_seats<'c>(
    app: &'c TestApp,
    event_id: i64,
    numbers: &[i32],
) -> sqlx::Transaction<'c, sqlx::Postgres> {
    let mut tx = app.pool().begin().await.expect("a transaction");
    sqlx::query(
        "SELECT 1 FROM catalog.seats WHERE event_id = $1 AND section = 'S1' AND row_label = 'A'
         AND number = ANY($2) FOR UPDATE",
    )
    .bind(event_id)
    .bind(numbers)
    .execute(&mut *tx)
    .await
    .expect("lock seats");
    tx
}

#[tokio::test]
async fn seats_another_hold_has_locked_are_passed_over_and_waited_for_only_at_the_end() {
    let app = TestApp::spawn_with(HoldPolicy::default().without_account_caps(), 10).await;
    let buyer = app.customer().await;

    // The best block is locked: the next one that does not touch it is taken, at once.
    let fixture = app.event(1, 1, 10).await;
    let in_flight = lock_seats(&app, fixture.event_id, &[4, 5, 6]).await;
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        best_available(&app, &buyer, fixture.event_id, json!({"quantity": 3})),
    )
    .await
    .expect("no waiting on a locked block");
    assert_eq!(block(&held_places(&app, &answer).await), ("S1", "A", 1, 3));
    in_flight.rollback().await.unwrap();

    // Every block is locked: the hold waits for them, and answers from what the other
    // transaction did, here sell the middle seat.
    let fixture = app.event(1, 1, 3).await;
    let mut in_flight = lock_seats(&app, fixture.event_id, &[1, 2, 3]).await;
    let waiting = best_available(&app, &buyer, fixture.event_id, json!({"quantity": 2}));
    let finish = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        sqlx::query("UPDATE catalog.seats SET status = 'sold' WHERE id = $1")
            .bind(fixture.seat_ids[1])
            .execute(&mut *in_flight)
            .await
            .expect("sell the middle seat");
        in_flight.commit().await.expect("commit");
    };
    let (answer, ()) = tokio::join!(waiting, finish);
    assert_eq!(answer.status, StatusCode::CONFLICT, "{:?}", answer.body);
    assert_eq!(answer.error_code(), "not_enough_adjacent_seats");
    assert_eq!(
        (&answer.body["seats_left"], &answer.body["largest_block"]),
        (&json!(2), &json!(1))
    );
}

/// How many seats of the event are free together at most, in one row.
async fn largest_free_block(app: &TestApp, event_id: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(max(b.run_length), 0)::int8 FROM catalog.seat_blocks($1, 1, NULL, NULL) b",
    )
    .bind(event_id)
    .fetch_one(app.pool())
    .await
    .expect("the largest free block")
}

/// What one racer asked for: 2 to 4 of the best available, or these seats.
enum Ask {
    Best(i64),
    Chosen(Vec<i64>),
}

struct Outcome {
    ask: Ask,
    answer: Answer,
}

/// Every request at once, each from its own buyer on its own task: the first buyers ask
/// for the `chosen` seats, the others for the best available.
async fn rush(
    app: &Arc<TestApp>,
    buyers: &Arc<Vec<Customer>>,
    event_id: i64,
    chosen: &[Vec<i64>],
) -> Vec<Outcome> {
    let tasks: Vec<_> = (0..buyers.len())
        .map(|i| {
            let (app, buyers) = (app.clone(), buyers.clone());
            let ask = match chosen.get(i) {
                Some(seats) => Ask::Chosen(seats.clone()),
                None => Ask::Best(2 + (i as i64 * 7 + event_id) % 3),
            };
            tokio::spawn(async move {
                let answer = match &ask {
                    Ask::Best(quantity) => {
                        let body = json!({ "quantity": quantity });
                        best_available(&app, &buyers[i], event_id, body).await
                    }
                    Ask::Chosen(seats) => app.hold(&buyers[i], event_id, seats).await,
                };
                Outcome { ask, answer }
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.expect("a hold task"));
    }
    outcomes
}

/// The race's answers against the database: each hold adjacent seats of one row, no seat
/// in two holds, seats marked with their hold, every 201 a live hold; a best-available 409
/// only when, even at the end, no block of its size is free. Returns (holds, best-available
/// refusals).
async fn check_rush(app: &TestApp, fixture: &Fixture, outcomes: &[Outcome]) -> (usize, usize) {
    let mut owner: BTreeMap<i64, String> = BTreeMap::new();
    let mut refused = 0;
    let largest_left = largest_free_block(app, fixture.event_id).await;
    for Outcome { ask, answer } in outcomes {
        match (answer.status, ask) {
            (StatusCode::CREATED, _) => {
                let hold_id = answer.body["hold_id"].as_str().unwrap();
                let seats: Vec<i64> =
                    serde_json::from_value(answer.body["seat_ids"].clone()).unwrap();
                match ask {
                    Ask::Best(quantity) => assert_eq!(seats.len() as i64, *quantity),
                    Ask::Chosen(chosen) => assert_eq!(&seats, chosen),
                }
                block(&places(app, &seats).await);
                for seat in seats {
                    assert!(
                        owner.insert(seat, hold_id.to_owned()).is_none(),
                        "seat {seat} is in two holds"
                    );
                }
            }
            (StatusCode::CONFLICT, Ask::Chosen(_)) => {
                assert_eq!(answer.error_code(), "seats_unavailable")
            }
            (StatusCode::CONFLICT, Ask::Best(quantity)) => {
                assert_eq!(answer.error_code(), "not_enough_adjacent_seats");
                assert!(
                    largest_left < *quantity,
                    "refused {quantity} seats while {largest_left} are still free together"
                );
                refused += 1;
            }
            (other, _) => panic!("unexpected {other}: {:?}", answer.body),
        }
    }
    assert!(owner.len() <= fixture.seat_ids.len());
    let marked: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT id, status, hold_id::text FROM catalog.seats WHERE event_id = $1")
            .bind(fixture.event_id)
            .fetch_all(app.pool())
            .await
            .unwrap();
    for (seat, status, hold) in &marked {
        match owner.get(seat) {
            Some(winner) => assert_eq!((status.as_str(), hold.as_ref()), ("held", Some(winner))),
            None => assert_eq!((status.as_str(), hold), ("available", &None), "seat {seat}"),
        }
    }
    let live: BTreeSet<String> = sqlx::query_scalar::<_, String>(
        "SELECT id::text FROM catalog.holds WHERE event_id = $1 AND released_at IS NULL",
    )
    .bind(fixture.event_id)
    .fetch_all(app.pool())
    .await
    .unwrap()
    .into_iter()
    .collect();
    let answered: BTreeSet<String> = owner.into_values().collect();
    assert_eq!(
        answered, live,
        "every 201 is a live hold and nothing else is"
    );
    (live.len(), refused)
}

const RACERS: usize = 40;
const ROUNDS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_concurrent_buyers_never_collide_and_are_refused_only_when_no_block_is_left() {
    let app = Arc::new(TestApp::spawn_with(HoldPolicy::default().without_account_caps(), 45).await);
    let buyers: Arc<Vec<Customer>> =
        Arc::new(futures::future::join_all((0..RACERS).map(|_| app.customer())).await);
    for round in 0..ROUNDS {
        // 160 seats for at most 160 asked: nobody may be refused.
        let roomy = app.event(2, 4, 20).await;
        let outcomes = rush(&app, &buyers, roomy.event_id, &[]).await;
        let (holds, refused) = check_rush(&app, &roomy, &outcomes).await;
        assert_eq!((holds, refused), (RACERS, 0), "round {round}");

        // The same beside 10 buyers choosing the pairs at the centre of each row, the very
        // seats best available would pick first: no deadlock, no best-available 409.
        let mixed = app.event(2, 4, 20).await;
        let centres: Vec<Vec<i64>> = mixed
            .seat_ids
            .chunks(20)
            .map(|row| row[9..11].to_vec())
            .chain(
                mixed
                    .seat_ids
                    .chunks(20)
                    .take(2)
                    .map(|row| row[8..10].to_vec()),
            )
            .collect();
        let outcomes = rush(&app, &buyers, mixed.event_id, &centres).await;
        let (_, refused) = check_rush(&app, &mixed, &outcomes).await;
        assert_eq!(refused, 0, "round {round}");

        // 60 seats in rows of 10 for about 120 asked: it sells out.
        let small = app.event(2, 3, 10).await;
        let outcomes = rush(&app, &buyers, small.event_id, &[]).await;
        let (holds, refused) = check_rush(&app, &small, &outcomes).await;
        assert!(holds >= 12, "round {round}: only {holds} holds");
        assert_eq!(holds + refused, RACERS);
    }
}
