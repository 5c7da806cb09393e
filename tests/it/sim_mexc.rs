//! MEXC simulator and probe, through the library.
