"""Pure domain: types, rules, text processing. No I/O and no SDK imports."""
