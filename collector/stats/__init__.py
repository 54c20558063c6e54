"""Stats: named queries over events and rollups, filtered views, output formats and export."""
