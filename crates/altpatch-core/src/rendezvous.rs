//! TODO: rendezvous (being written).
