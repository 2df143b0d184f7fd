from govkit.service import main
from notifications.app import SPEC

if __name__ == "__main__":
    main(SPEC)
