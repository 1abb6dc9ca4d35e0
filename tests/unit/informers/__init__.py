"""Unit tests of pyscheduler.api and pyscheduler.informers (a package, so test module names
cannot collide with same-named test files elsewhere)."""
