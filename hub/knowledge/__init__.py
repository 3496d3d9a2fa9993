"""Smart answers (issue 16): the knowledge base (FAQ entries and policy passages), Chinese
retrieval over it, and the decision to answer a question or hand it to a person.

Sits right above ``hub.store`` (it reads FAQ entries and policies) and below everything that
answers an enterprise: the inbound worker asks it, the CLI and the API show what it would say.
"""
