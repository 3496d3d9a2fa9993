"""Liaison visits (对口联络走访) and the officers' side of the hub.

The plan (one visit due per enterprise per period of its tier's cadence, spread over the
period's working days), the appointment by reply (slots offered, an answer picks one, moves the
visit or declines), the officers' reminders with the enterprise's dossier (一企一档), the
outcome (done with problems that become tickets, or not done), officers' recorded contacts and
the monthly contact of key enterprises. ``visits`` sits above ``tickets``/``queries`` (a problem
found becomes a ticket) and below ``inbound`` (a reply answers a proposal) and the programs.
"""
