//! The order-worker component: Spin's Redis trigger on the `orders` channel runs the
//! order saga (claim, pay, sell the seats, issue tickets, notify) for each message.

use spin_sdk::redis_subscriber;

#[redis_subscriber]
async fn on_message(message: Vec<u8>) -> Result<(), String> {
    ticketbuster_spin_backend::work_on_order_message(&message).await
}
