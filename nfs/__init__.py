"""Network functions of the fabric: one source of entries (YAML) rendered for LM, EM and
servers, and the software NFs that server hosts run on NSH packets."""
