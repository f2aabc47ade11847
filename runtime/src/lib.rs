//! The Cairn runtime. The op log, storage, rules engine, events and sync land here (see the open issues).
