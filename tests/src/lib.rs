//! End-to-end tests over the example schemas in `schemas/`.
