//! TODO: caps (being written).
