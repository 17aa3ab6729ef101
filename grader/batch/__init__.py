"""A class: sources (folder, mailbox, Moodle), the plan, one task per archive, engines, similarity, OUT."""
