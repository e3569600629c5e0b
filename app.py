"""The browser chat: `python app.py` serves seeds/ (or QA_CORPUS) on 127.0.0.1:7860 (QA_HOST, QA_PORT).

The chat itself lives in the package (qa.ui.chat), so that an installed `qa serve` has it too.
"""

from qa.ui.chat import build_app, main, reply, serve

__all__ = ["build_app", "reply", "serve"]

if __name__ == "__main__":
    main()
