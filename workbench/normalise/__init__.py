"""How raw text becomes typed values: dates with their precision, places, vocabulary codes, and
the personal-data screen. Functions here work on distinct values or build SQL expressions."""
