"""Pure health scoring: signals in, scores, bands, reasons, trends and alerts out. No I/O, no clock."""
