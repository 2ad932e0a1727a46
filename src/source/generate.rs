//! Seeded generated DogStatsD traffic (placeholder, filled in by the generator work).
