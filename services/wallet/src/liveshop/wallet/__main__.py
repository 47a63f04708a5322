from liveshop.wallet.bootstrap import main

main()
