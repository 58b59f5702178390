"""The Measure panel: rock fragments of the frame on screen (outlines coloured by size, D50/D80, hover
sizes, the passing curve, D50/D80 over time, the scale tool, the report). See hub.py."""
