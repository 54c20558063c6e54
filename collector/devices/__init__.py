"""Device, OS, browser and bot detection from a User-Agent and its Client Hints."""
