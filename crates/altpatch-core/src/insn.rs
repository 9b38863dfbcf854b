//! TODO: insn (being written).
