"""Pipeline stages: plain functions over records, with I/O at the edges."""
