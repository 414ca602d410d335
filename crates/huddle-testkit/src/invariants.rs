//! Invariant checks shared by the property tests, the simulator and the
//! fuzz targets (filled in below).
