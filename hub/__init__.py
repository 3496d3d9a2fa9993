"""The hub: messaging backbone for a city's proactive service to enterprises."""
