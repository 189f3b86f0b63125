from vidstyle._cli import main

main()
