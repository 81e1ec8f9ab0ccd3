"""The web console for staff and supervisors (`/console/`): server-rendered Chinese pages.

`app.py` builds the sub-application; `users.py` signs people in (argon2 hashes), `sessions.py`
keeps their sessions and CSRF tokens, `forms.py` turns the one table of actions into forms,
`messages.py` holds every label (zh-CN first), `pages.py` the routes. See docs/console.md.
"""
