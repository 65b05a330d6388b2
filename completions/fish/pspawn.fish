# fish completion for pspawn (pkit): the binary answers via COMP_LINE.
function __complete_pspawn
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command pspawn
end
complete -c pspawn -a "(__complete_pspawn)"
