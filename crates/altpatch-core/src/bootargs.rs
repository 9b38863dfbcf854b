//! TODO: bootargs (being written).
