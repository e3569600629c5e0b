"""The front ends: the `qa` command, the browser chat, the document page, and how an answer is shown."""
