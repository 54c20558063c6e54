"""Access: API tokens, the audit log and the dashboard's users, managed from the command line."""

from __future__ import annotations

from collector.access import commands
from collector.access.tokens import audit_show, token_create, token_list, token_revoke
from collector.access.users import user_add_op, user_list_op, user_remove_op
from collector.feature import Command, Feature

FEATURE: Feature[object] = Feature(
    "access",
    ops={
        "token.create": token_create,
        "token.list": token_list,
        "token.revoke": token_revoke,
        "audit": audit_show,
        "user_add": user_add_op,
        "user_list": user_list_op,
        "user_remove": user_remove_op,
    },
    commands=(
        Command(
            "user",
            "people who log in to /dashboard: add (or change), list, remove",
            commands.user,
            commands.user_arguments,
        ),
        Command("token", "create, list and revoke API tokens", commands.token, commands.token_arguments),
        Command("audit", "who called which API, newest first", commands.audit, commands.audit_arguments),
    ),
)
