-- The attendee export reads an event's tickets a page at a time in id order.
CREATE INDEX tickets_by_event ON orders.tickets (event_id, id);
