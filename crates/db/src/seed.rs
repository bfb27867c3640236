//! The demo catalog: 26 published events over five categories, each with a seat map of
//! sections, rows and seats in price tiers (about 26,000 seats; the stadium alone 6,000).
//! Dates are relative to today so the catalog always has upcoming events. Re-running it
//! adds only what is missing.

use sqlx::postgres::PgPool;

/// One block of seats: `rows` rows (A, B, ...) of `seats` seats, all in one price tier.
struct Section {
    name: &'static str,
    rows: i32,
    seats: i32,
    tier: &'static str,
}

struct Venue {
    tiers: &'static [(&'static str, i64)],
    sections: &'static [Section],
}

struct SeedEvent {
    slug: &'static str,
    title: &'static str,
    category: &'static str,
    venue: &'static str,
    city: &'static str,
    days_ahead: i32,
    hour: i32,
    hours: i32,
    description: &'static str,
    layout: &'static Venue,
    /// Multiplies the layout's tier prices (percent), so equal venues differ in price.
    price_percent: i64,
}

const fn section(name: &'static str, rows: i32, seats: i32, tier: &'static str) -> Section {
    Section {
        name,
        rows,
        seats,
        tier,
    }
}

static STADIUM: Venue = Venue {
    tiers: &[("Pitch", 14_500), ("Lower", 9_500), ("Upper", 5_500)],
    sections: &[
        section("Pitch A", 20, 30, "Pitch"),
        section("Pitch B", 20, 30, "Pitch"),
        section("Lower North", 20, 30, "Lower"),
        section("Lower South", 20, 30, "Lower"),
        section("Lower East", 20, 30, "Lower"),
        section("Lower West", 20, 30, "Lower"),
        section("Upper North", 20, 30, "Upper"),
        section("Upper South", 20, 30, "Upper"),
        section("Upper East", 20, 30, "Upper"),
        section("Upper West", 20, 30, "Upper"),
    ],
};

static ARENA: Venue = Venue {
    tiers: &[("Floor", 8_900), ("Tribune", 6_500), ("Gallery", 3_900)],
    sections: &[
        section("Floor", 15, 20, "Floor"),
        section("Tribune 1", 15, 20, "Tribune"),
        section("Tribune 2", 15, 20, "Tribune"),
        section("Tribune 3", 15, 20, "Tribune"),
        section("Gallery 1", 15, 20, "Gallery"),
        section("Gallery 2", 15, 20, "Gallery"),
    ],
};

static THEATER: Venue = Venue {
    tiers: &[
        ("Stalls", 6_800),
        ("Dress Circle", 5_200),
        ("Balcony", 2_900),
    ],
    sections: &[
        section("Stalls", 15, 20, "Stalls"),
        section("Dress Circle", 8, 18, "Dress Circle"),
        section("Balcony", 6, 16, "Balcony"),
    ],
};

static HALL: Venue = Venue {
    tiers: &[("Premium", 7_500), ("Standard", 4_500)],
    sections: &[
        section("Front", 10, 20, "Premium"),
        section("Centre", 10, 20, "Standard"),
        section("Left", 10, 20, "Standard"),
        section("Right", 10, 20, "Standard"),
    ],
};

static CLUB: Venue = Venue {
    tiers: &[("General", 2_500)],
    sections: &[section("Main Floor", 10, 20, "General")],
};

static CONFERENCE_HALL: Venue = Venue {
    tiers: &[("Business", 39_900), ("Standard", 19_900)],
    sections: &[
        section("Front Rows", 5, 25, "Business"),
        section("Main Hall", 15, 25, "Standard"),
    ],
};

#[rustfmt::skip]
static EVENTS: &[SeedEvent] = &[
    SeedEvent { slug: "la-noche-electrica-madrid", title: "La Noche Eléctrica: Stadium Tour", category: "concert", venue: "Estadio Metropolitano", city: "Madrid", days_ahead: 45, hour: 21, hours: 3, layout: &STADIUM, price_percent: 100,
        description: "The biggest pop-rock tour of the year lands in Madrid for one night only: three hours, two stages and a light show built for 6,000 seats. Doors open at 19:00." },
    SeedEvent { slug: "orquesta-sinfonica-beethoven-9", title: "Beethoven's Ninth with the National Symphony", category: "concert", venue: "Auditorio Nacional", city: "Madrid", days_ahead: 12, hour: 19, hours: 2, layout: &HALL, price_percent: 110,
        description: "The National Symphony Orchestra and Choir close their season with the Ode to Joy. Conducted by Inés Marín, with four soloists of the Teatro Real." },
    SeedEvent { slug: "jazz-en-el-puerto", title: "Jazz at the Harbour: Quartet Nights", category: "concert", venue: "Sala Apolo", city: "Barcelona", days_ahead: 9, hour: 22, hours: 2, layout: &CLUB, price_percent: 100,
        description: "An intimate evening of modern jazz by the sea: original compositions and standards reimagined by the Lucía Ferrer Quartet." },
    SeedEvent { slug: "indie-rising-valencia", title: "Indie Rising: New Voices", category: "concert", venue: "Roig Arena", city: "Valencia", days_ahead: 30, hour: 20, hours: 4, layout: &ARENA, price_percent: 80,
        description: "Five bands from the independent scene on one bill, from shoegaze to Latin indie. Standing floor and seated tribunes." },
    SeedEvent { slug: "flamenco-sinfonico-sevilla", title: "Flamenco Sinfónico", category: "concert", venue: "Teatro de la Maestranza", city: "Sevilla", days_ahead: 21, hour: 20, hours: 2, layout: &THEATER, price_percent: 120,
        description: "Guitar, cante and a full orchestra: flamenco classics arranged for symphonic forces, with guest dancers from the Andalusian Ballet." },
    SeedEvent { slug: "electronic-arena-bilbao", title: "Bassline Arena: Electronic All Night", category: "concert", venue: "Bizkaia Arena", city: "Bilbao", days_ahead: 52, hour: 23, hours: 6, layout: &ARENA, price_percent: 90,
        description: "Six hours of techno and house with international headliners, immersive visuals and a sound system tuned for the arena." },
    SeedEvent { slug: "hamlet-teatro-espanol", title: "Hamlet", category: "theater", venue: "Teatro Español", city: "Madrid", days_ahead: 7, hour: 20, hours: 3, layout: &THEATER, price_percent: 100,
        description: "A stark, modern staging of Shakespeare's tragedy in a new Spanish translation. Running time three hours with one interval." },
    SeedEvent { slug: "la-casa-de-bernarda-alba", title: "La casa de Bernarda Alba", category: "theater", venue: "Teatre Nacional de Catalunya", city: "Barcelona", days_ahead: 16, hour: 19, hours: 2, layout: &THEATER, price_percent: 90,
        description: "Lorca's last play in a production by the national company: five daughters, one house, and a silence that cannot hold." },
    SeedEvent { slug: "musical-el-rey-leon", title: "The Lion King – The Musical", category: "theater", venue: "Teatro Lope de Vega", city: "Madrid", days_ahead: 25, hour: 18, hours: 3, layout: &HALL, price_percent: 130,
        description: "The award-winning musical returns with its original puppets, costumes and the music of Elton John and Tim Rice. Suitable for all ages." },
    SeedEvent { slug: "comedia-improvisada", title: "Improv Night: Anything Goes", category: "theater", venue: "Teatro Alfil", city: "Madrid", days_ahead: 4, hour: 22, hours: 2, layout: &CLUB, price_percent: 70,
        description: "Six comedians, no script, and your suggestions. Every show is different and none will ever be repeated." },
    SeedEvent { slug: "ballet-lago-cisnes", title: "Swan Lake – National Ballet", category: "theater", venue: "Palau de les Arts", city: "Valencia", days_ahead: 38, hour: 19, hours: 3, layout: &THEATER, price_percent: 140,
        description: "Tchaikovsky's masterpiece danced by the National Ballet with live orchestra. A classic production in four acts." },
    SeedEvent { slug: "derbi-madrileno", title: "Madrid Derby – League Match", category: "sports", venue: "Palacio de los Deportes", city: "Madrid", days_ahead: 18, hour: 21, hours: 2, layout: &ARENA, price_percent: 120,
        description: "The city's two basketball giants meet in the league's most heated rivalry. Arrive early for the pre-game show." },
    SeedEvent { slug: "final-copa-balonmano", title: "Handball Cup Final", category: "sports", venue: "Pabellón Príncipe Felipe", city: "Zaragoza", days_ahead: 33, hour: 18, hours: 2, layout: &ARENA, price_percent: 70,
        description: "Two unbeaten teams, one trophy. The cup final of the season with the national team's stars on both sides." },
    SeedEvent { slug: "gran-premio-padel", title: "Padel Grand Prix – Finals Day", category: "sports", venue: "Madrid Arena", city: "Madrid", days_ahead: 27, hour: 17, hours: 5, layout: &HALL, price_percent: 90,
        description: "The world's top eight pairs play the semi-finals and final on a glass court in the heart of the city." },
    SeedEvent { slug: "noche-de-boxeo", title: "Fight Night: Title Bout", category: "sports", venue: "Bilbao Exhibition Centre", city: "Bilbao", days_ahead: 60, hour: 21, hours: 4, layout: &ARENA, price_percent: 110,
        description: "The European middleweight title on the line, with a full undercard of rising Spanish fighters." },
    SeedEvent { slug: "maraton-gala-atletismo", title: "Indoor Athletics Gala", category: "sports", venue: "Palau Sant Jordi", city: "Barcelona", days_ahead: 41, hour: 19, hours: 3, layout: &HALL, price_percent: 60,
        description: "Olympic champions race the 60 m, 1500 m and pole vault in one evening of world-class indoor athletics." },
    SeedEvent { slug: "festival-sol-y-mar", title: "Sol y Mar Festival – Saturday", category: "festival", venue: "Recinto Ferial de Benidorm", city: "Benidorm", days_ahead: 70, hour: 16, hours: 10, layout: &ARENA, price_percent: 100,
        description: "Three stages by the beach, twenty artists and sunset sets. The Saturday ticket includes access to the covered arena stage." },
    SeedEvent { slug: "festival-cine-fantastico", title: "Fantastic Film Festival – Opening Gala", category: "festival", venue: "Teatre Auditori", city: "Sitges", days_ahead: 35, hour: 20, hours: 4, layout: &THEATER, price_percent: 80,
        description: "The world premiere that opens the festival, with the director and cast on stage, followed by the opening party." },
    SeedEvent { slug: "festival-flamenco-jerez", title: "Jerez Flamenco Festival – Closing Night", category: "festival", venue: "Teatro Villamarta", city: "Jerez", days_ahead: 48, hour: 21, hours: 3, layout: &THEATER, price_percent: 100,
        description: "The festival's closing gala brings together its three headlining companies for one last night of baile and cante." },
    SeedEvent { slug: "street-food-music-fest", title: "Street Food & Music Fest", category: "festival", venue: "Matadero", city: "Madrid", days_ahead: 14, hour: 13, hours: 10, layout: &HALL, price_percent: 40,
        description: "Forty food trucks, two stages of live music and a craft-beer garden. Seated tickets include a reserved table for the evening concert." },
    SeedEvent { slug: "festival-jazz-vitoria", title: "Vitoria Jazz Festival – Headliner Night", category: "festival", venue: "Polideportivo Mendizorroza", city: "Vitoria-Gasteiz", days_ahead: 80, hour: 21, hours: 4, layout: &ARENA, price_percent: 90,
        description: "One of Europe's oldest jazz festivals presents its headliner night: a double bill of living legends." },
    SeedEvent { slug: "rustconf-iberia", title: "RustConf Iberia 2027", category: "conference", venue: "Palacio de Congresos", city: "Madrid", days_ahead: 55, hour: 9, hours: 9, layout: &CONFERENCE_HALL, price_percent: 100,
        description: "A day of talks on systems programming, WebAssembly and async Rust, with workshops on Spin and the component model." },
    SeedEvent { slug: "cloud-native-summit", title: "Cloud Native Summit", category: "conference", venue: "Fira Gran Via", city: "Barcelona", days_ahead: 65, hour: 9, hours: 8, layout: &CONFERENCE_HALL, price_percent: 120,
        description: "Kubernetes, serverless and platform engineering: case studies from teams running production at scale." },
    SeedEvent { slug: "design-systems-day", title: "Design Systems Day", category: "conference", venue: "Palacio de Congresos", city: "Valencia", days_ahead: 23, hour: 10, hours: 7, layout: &CONFERENCE_HALL, price_percent: 60,
        description: "Designers and engineers on building accessible, themeable component libraries that teams actually adopt." },
    SeedEvent { slug: "data-ai-forum", title: "Data & AI Forum", category: "conference", venue: "Euskalduna Jauregia", city: "Bilbao", days_ahead: 75, hour: 9, hours: 8, layout: &HALL, price_percent: 150,
        description: "Practical machine learning in production: data quality, evaluation, privacy and the economics of inference." },
    SeedEvent { slug: "startup-pitch-night", title: "Startup Pitch Night", category: "conference", venue: "La Nave", city: "Madrid", days_ahead: 11, hour: 19, hours: 3, layout: &CLUB, price_percent: 60,
        description: "Ten early-stage startups, five minutes each, one jury and an audience vote. Networking drinks follow." },
];

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub events_added: usize,
    pub events_present: usize,
    pub seats_added: u64,
}

pub async fn seed(pool: &PgPool) -> anyhow::Result<SeedReport> {
    let mut report = SeedReport::default();
    for event in EVENTS {
        let mut tx = pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO catalog.events
                 (slug, title, category, description, venue, city, starts_at, ends_at, status)
             SELECT $1, $2, $3, $4, $5, $6, start, start + make_interval(hours => $9), 'published'
             FROM (SELECT date_trunc('day', now()) + make_interval(days => $7, hours => $8) AS start) s
             ON CONFLICT (slug) DO NOTHING
             RETURNING id",
        )
        .bind(event.slug)
        .bind(event.title)
        .bind(event.category)
        .bind(event.description)
        .bind(event.venue)
        .bind(event.city)
        .bind(event.days_ahead)
        .bind(event.hour)
        .bind(event.hours)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(event_id) = id else {
            report.events_present += 1;
            continue;
        };
        for (name, base_price) in event.layout.tiers {
            sqlx::query(
                "INSERT INTO catalog.price_tiers (event_id, name, price_cents) VALUES ($1, $2, $3)",
            )
            .bind(event_id)
            .bind(name)
            .bind(base_price * event.price_percent / 100)
            .execute(&mut *tx)
            .await?;
        }
        for section in event.layout.sections {
            let added = sqlx::query(
                "INSERT INTO catalog.seats (event_id, tier_id, section, row_label, number)
                 SELECT $1, t.id, $2, chr(64 + r), n
                 FROM catalog.price_tiers t, generate_series(1, $3) r, generate_series(1, $4) n
                 WHERE t.event_id = $1 AND t.name = $5
                 ORDER BY r, n",
            )
            .bind(event_id)
            .bind(section.name)
            .bind(section.rows)
            .bind(section.seats)
            .bind(section.tier)
            .execute(&mut *tx)
            .await?;
            report.seats_added += added.rows_affected();
        }
        tx.commit().await?;
        report.events_added += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seats(venue: &Venue) -> i64 {
        venue
            .sections
            .iter()
            .map(|s| i64::from(s.rows * s.seats))
            .sum()
    }

    #[test]
    fn the_catalog_is_big_enough_for_on_sale_tests() {
        assert!(EVENTS.len() >= 24);
        let total: i64 = EVENTS.iter().map(|e| seats(e.layout)).sum();
        assert!(total >= 20_000, "only {total} seats");
        assert!(EVENTS.iter().any(|e| seats(e.layout) >= 5_000));
        for category in ["concert", "theater", "sports", "festival", "conference"] {
            assert!(
                EVENTS.iter().filter(|e| e.category == category).count() >= 4,
                "{category}"
            );
        }
    }

    #[test]
    fn every_section_uses_a_tier_of_its_venue_and_rows_fit_letters() {
        for event in EVENTS {
            for section in event.layout.sections {
                assert!(
                    event
                        .layout
                        .tiers
                        .iter()
                        .any(|(name, _)| *name == section.tier)
                );
                assert!((1..=26).contains(&section.rows));
            }
        }
    }
}
