from liveshop.fulfillment.bootstrap import main

main()
