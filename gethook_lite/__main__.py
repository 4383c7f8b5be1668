from gethook_lite.cli import main

main()
