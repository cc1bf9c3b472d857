"""The usage collector: Segment-format product events folded into daily usage per account."""
