//! Mesos v1 types.
