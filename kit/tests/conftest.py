"""Make the kit's own ``lab2`` and ``lab2check`` importable, however pytest is started."""
import sys
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
if str(KIT) not in sys.path:
    sys.path.insert(0, str(KIT))
