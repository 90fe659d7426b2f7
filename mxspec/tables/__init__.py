"""The tables, data only: element, tapered and block-format records, policies, recipes and
accumulator models, and the one registry that turns a name into a record."""
