"""The web UI for the people in the company, served by ``autonom serve`` at ``/ui``."""
