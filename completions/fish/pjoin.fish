# fish completion for pjoin (pkit): the binary answers via COMP_LINE.
function __complete_pjoin
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command pjoin
end
complete -c pjoin -a "(__complete_pjoin)"
