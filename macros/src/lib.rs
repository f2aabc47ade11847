//! Procedural macros for Cairn. `schema!` and the derives land here with code generation.
