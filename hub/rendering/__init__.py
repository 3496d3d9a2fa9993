"""Message templates: what a template is (spec), the files under templates/, the sandboxed Jinja2
renderer with its size caps, SMS text rules, and the template check.

May import hub.core, hub.infra and hub.store; no feature package.
"""
