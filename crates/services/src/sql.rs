//! SQL fragments shared by several statements, as macros so they join with `concat!`
//! into `&'static str` statements at compile time.

/// Whether seat `s` may be taken now: an expired hold frees its seats at once.
macro_rules! seat_is_free {
    () => {
        "(s.status = 'available' OR (s.status = 'held' AND s.held_until <= now()))"
    };
}

/// The public fields of event `e`, for `json_build_object`.
macro_rules! event_fields {
    () => {
        "'id', e.id, 'slug', e.slug, 'title', e.title, 'category', e.category,
         'description', e.description, 'venue', e.venue, 'city', e.city,
         'starts_at', iso_utc(e.starts_at), 'ends_at', iso_utc(e.ends_at),
         'sales_start', iso_utc(e.sales_start), 'sales_end', iso_utc(e.sales_end),
         'currency', e.currency, 'image_url', e.image_url"
    };
}
